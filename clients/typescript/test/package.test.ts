/**
 * The package itself: the committed OpenAPI types match what the generator
 * makes from the server's `docs/openapi.json` today, and `npm pack` ships
 * only the built files, their types, the README, the licence and
 * package.json.
 */

import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

import { describe, expect, it } from "vitest";

import { tempStore } from "./annal.js";

const run = promisify(execFile);
const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");

describe("package", () => {
  it("has OpenAPI types generated from the server's current document (npm run generate)", async () => {
    const { dir, cleanup } = await tempStore();
    try {
      const fresh = join(dir, "openapi.ts");
      const generator = join(root, "node_modules", ".bin", "openapi-typescript");
      await run(generator, [join(root, "../../docs/openapi.json"), "-o", fresh], { cwd: root });
      const committed = await readFile(join(root, "src/openapi.ts"), "utf8");
      expect(committed, "src/openapi.ts is stale: run `npm run generate`").toBe(await readFile(fresh, "utf8"));
    } finally {
      await cleanup();
    }
  });

  it("packs only built files, types, README, LICENSE and package.json", async () => {
    const { stdout } = await run("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], { cwd: root });
    const [pack] = JSON.parse(stdout) as [{ files: { path: string }[] }];
    const files = pack.files.map((file) => file.path).sort();
    const stray = files.filter((path) => !/^dist\/.+\.(js|d\.ts)$/.test(path) && !["LICENSE", "README.md", "package.json"].includes(path));
    expect(stray).toEqual([]);
    for (const needed of ["LICENSE", "README.md", "package.json", "dist/index.js", "dist/index.d.ts", "dist/seed/index.js", "dist/seed/event-store.d.ts"]) {
      expect(files).toContain(needed);
    }
  });
});
