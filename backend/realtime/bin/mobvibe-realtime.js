#!/usr/bin/env -S node --max-semi-space-size=8
// The command's entry point, committed with its executable bit: npm links bins at install time, before
// `prepare` compiles dist/, so a bin pointing into dist/ would be linked without one ("Permission denied").
import '../dist/cli.js';
