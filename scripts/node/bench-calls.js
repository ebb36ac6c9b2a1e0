// openai-node beside embedwatch for make bench (scripts/bench-rtt.py):
// CALLS embeddings calls through the pinned SDK with its keep-alive
// agent, LANES at a time; prints "lane microseconds" per call.
//   NODE_PATH=scripts/node/node_modules node scripts/node/bench-calls.js URL CALLS LANES
// Trusts the benchmark's CA through NODE_EXTRA_CA_CERTS.
"use strict";
const OpenAI = require("openai");

async function main() {
  const [url, calls, lanes] = [process.argv[2], +process.argv[3], +process.argv[4]];
  const client = new OpenAI({ apiKey: "bench", baseURL: url, maxRetries: 0 });
  let next = 0;
  const out = [];
  async function lane(no) {
    while (next < calls) {
      const i = next++;
      const t0 = process.hrtime.bigint();
      await client.embeddings.create({ model: "m", input: [`node ${no} ${i}`] });
      out.push(`${no} ${(process.hrtime.bigint() - t0) / 1000n}`);
    }
  }
  await Promise.all(Array.from({ length: lanes }, (_, no) => lane(no)));
  process.stdout.write(out.join("\n") + "\n");
}

main().catch((e) => { console.error(e); process.exit(1); });
