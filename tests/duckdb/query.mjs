// query.mjs SQL...: runs each SQL text in one in-memory DuckDB, in the
// current directory, and prints each result's rows as sqlite3's CLI does by
// default (values joined by '|'; NULL empty). The formats test (formats.sh)
// runs README "Output formats"' DuckDB examples through it. Exit 1 with
// DuckDB's message when a statement fails.
import { DuckDBInstance } from '@duckdb/node-api';

const db = await DuckDBInstance.create(':memory:');
const con = await db.connect();
for (const sql of process.argv.slice(2)) {
    try {
        const result = await con.runAndReadAll(sql);
        for (const row of result.getRowsJS())
            console.log(row.map((v) => (v === null ? '' : String(v))).join('|'));
    } catch (e) {
        console.error(`duckdb: ${e.message}`);
        process.exit(1);
    }
}
