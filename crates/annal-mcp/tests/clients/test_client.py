"""Goal: the official Python MCP SDK, a client no one here wrote, works with `annal mcp`: it
lists the tools and calls every one with good and bad arguments (calls.json), on SQLite and
NDJSON stores, and a read-only server lists only the reading tools. Method: the SDK's stdio
client spawns the annal binary named by ANNAL_BIN on a fresh store per test."""

import json
import os
import tempfile
import unittest
from contextlib import asynccontextmanager
from pathlib import Path

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

ANNAL = os.environ.get("ANNAL_BIN", "")
CALLS = json.loads((Path(__file__).parent / "calls.json").read_text())


@asynccontextmanager
async def connect(store, allow_writes):
    args = ["--store", store, "mcp"] + (["--allow-writes"] if allow_writes else [])
    params = StdioServerParameters(command=ANNAL, args=args)
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            yield session


def at(value, path):
    for key in path.split("."):
        if value is None:
            return None
        value = value[int(key)] if isinstance(value, list) else value.get(key)
    return value


def resolve(value, saved):
    if isinstance(value, str) and value.startswith("$"):
        return saved[value[1:]]
    if isinstance(value, list):
        return [resolve(v, saved) for v in value]
    if isinstance(value, dict):
        return {k: resolve(v, saved) for k, v in value.items()}
    return value


class AnnalMcpClientTest(unittest.IsolatedAsyncioTestCase):
    async def run_steps(self, session):
        saved = {}
        for step in CALLS["steps"]:
            args = resolve(step["args"], saved)
            label = f"{step['tool']} {json.dumps(args)}"
            result = await session.call_tool(step["tool"], args)
            self.assertEqual(bool(result.is_error), step["isError"], f"{label}: {result}")
            self.assertEqual(result.content[0].type, "text", label)
            answer = result.structured_content
            for path, expected in resolve(step["expect"], saved).items():
                self.assertEqual(at(answer, path), expected, f"{label}: {path} in {answer}")
            for name, path in step["save"].items():
                saved[name] = at(answer, path)

    async def every_tool_on(self, store):
        async with connect(store, True) as session:
            tools = (await session.list_tools()).tools
            names = sorted(t.name for t in tools)
            self.assertEqual(names, sorted(CALLS["readTools"] + CALLS["writeTools"]))
            for tool in tools:
                self.assertEqual(tool.input_schema["type"], "object", tool.name)
            await self.run_steps(session)

    async def test_every_tool_with_good_and_bad_arguments_on_sqlite(self):
        self.assertTrue(ANNAL, "ANNAL_BIN names the annal binary")
        with tempfile.TemporaryDirectory() as dir:
            await self.every_tool_on(str(Path(dir) / "annal.db"))

    async def test_every_tool_with_good_and_bad_arguments_on_ndjson(self):
        with tempfile.TemporaryDirectory() as dir:
            await self.every_tool_on(f"ndjson:{Path(dir) / 'ledger'}")

    async def test_a_read_only_server_lists_only_the_reading_tools(self):
        with tempfile.TemporaryDirectory() as dir:
            store = str(Path(dir) / "annal.db")
            async with connect(store, True) as writer:
                await writer.call_tool("swarm_init", {})
            async with connect(store, False) as session:
                names = sorted(t.name for t in (await session.list_tools()).tools)
                self.assertEqual(names, CALLS["readTools"])
                refused = await session.call_tool("swarm_init", {})
                self.assertTrue(refused.is_error)
                self.assertEqual(refused.structured_content["error"], "read_only")


if __name__ == "__main__":
    unittest.main()
