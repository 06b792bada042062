"use strict";
// Prints every test of the jest suite, one `<file>::<full name>` a line, the
// ids interlock reads from jest-junit's XML (package.json's "jest-junit"
// templates: the file, then the describe blocks and the test's title), without
// running any: `jest --listTests` lists files, not tests. jest is asked to
// run only tests whose name matches a pattern that matches nothing, so it
// reports each test as skipped and runs no test, hook or service call.

const { spawnSync } = require("node:child_process");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");

const root = path.resolve(__dirname, "..");
const folder = fs.mkdtempSync(path.join(os.tmpdir(), "jest-list-"));
const output = path.join(folder, "tests.json");
try {
  const jest = require.resolve("jest/bin/jest", { paths: [root] });
  const done = spawnSync(process.execPath, [jest, "--ci", "--json", "--outputFile", output, "--testNamePattern", "$.^", "--reporters", "default"],
    { cwd: root, stdio: ["ignore", "ignore", "pipe"], encoding: "utf8" });
  if (done.status !== 0 || !fs.existsSync(output)) {
    process.stderr.write(`${done.stderr || ""}list-tests: jest exited ${done.status}; no test list\n`);
    process.exit(2);
  }
  const report = JSON.parse(fs.readFileSync(output, "utf8"));
  if (report.numRuntimeErrorTestSuites > 0) {
    process.stderr.write(`${done.stderr}list-tests: a test file failed to load; no test list\n`);
    process.exit(2);
  }
  for (const file of report.testResults) {
    for (const test of file.assertionResults) {
      process.stdout.write(`${path.relative(root, file.name)}::${test.fullName}\n`);
    }
  }
} finally {
  fs.rmSync(folder, { recursive: true, force: true });
}
