// Preloaded with `node --require` into a CLI run whose peak memory a test checks: reports it on exit.
process.on('exit', () => process.stderr.write(`maxrss-kb ${process.resourceUsage().maxRSS}\n`));
