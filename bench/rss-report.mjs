// Preloaded into a benchmarked process: reports its peak resident set size (KiB) when it exits.
process.on('exit', () => process.stderr.write(`maxRSS=${process.resourceUsage().maxRSS}\n`));
