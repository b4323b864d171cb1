/**
 * Points `ANNAL_BIN` at the binary under test in every test worker, so an
 * `EventStore` constructed the seed's way (`{ databasePath }`) finds it.
 */

import { inject } from "vitest";

process.env["ANNAL_BIN"] = inject("annal").bin;
