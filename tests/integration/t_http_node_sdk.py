"""Proves: the real openai-node SDK with default settings (only the base URL changed) gets, from serve --listen, vectors identical (as float32) to the fake API's in base64 (its default) and in float with dimensions; "user" reaches the API; an upstream 400 arrives as BadRequestError without retries; a hung API arrives as an APIError with status 504 within the deadline plus a margin, with exactly the attempts embedwatch made (the SDK did not retry, x-should-retry: false); and 200 concurrent calls are all answered correctly."""
import time

import harness as h
import http_harness as hh
import fake_api  # noqa: E402 (harness puts tests/fake on the path)

SCRIPT = r"""
const OpenAI = require("openai");
const client = new OpenAI({ baseURL: process.env.BASE_URL, apiKey: "sk-client" });
const mode = process.env.MODE;
function err(e) {
  return { name: e.constructor.name, status: e.status ?? null,
           bad: e instanceof OpenAI.BadRequestError, api: e instanceof OpenAI.APIError,
           message: String(e.message) };
}
(async () => {
  const out = {};
  if (mode === "vectors") {
    const a = await client.embeddings.create({ model: "text-embedding-3-small",
      input: ["hello world", "ünïcödé ✓", "third one"], user: "user-77" });
    out.base64 = a.data.map(d => ({ index: d.index, embedding: Array.from(d.embedding) }));
    out.model = a.model; out.usage = a.usage; out.object = a.object;
    const b = await client.embeddings.create({ model: "text-embedding-3-small",
      input: "with dims", dimensions: 5, encoding_format: "float" });
    out.float = b.data.map(d => ({ index: d.index, embedding: d.embedding }));
  } else if (mode === "error") {
    const t0 = Date.now();
    try {
      await client.embeddings.create({ model: "m", input: process.env.TEXT });
      out.error = null;
    } catch (e) { out.error = err(e); }
    out.ms = Date.now() - t0;
  } else if (mode === "concurrent") {
    const n = Number(process.env.N);
    const calls = [];
    for (let i = 0; i < n; i++)
      calls.push(client.embeddings.create({ model: "m", input: [`text ${i}`, `other ${i}`] })
        .then(r => r.data.map(d => Array.from(d.embedding))));
    out.results = await Promise.all(calls);
  }
  process.stdout.write(JSON.stringify(out));
})().catch(e => { console.error(e); process.exit(1); });
"""


def f32(vec):
    return h.as_float32(vec)


def scenario():
    with h.FakeAPI() as api, hh.HttpServer(
            api, "--jobs", "16", "--timeout", "2", "--deadline", "4",
            "--retries", "1",
            # Upstream calls are counted exactly (the SDK must not retry):
            # a hedge of a call slower than the p95 would be one more.
            "--hedge", "off") as srv:
        env = {"BASE_URL": srv.base_url}

        out = hh.node(SCRIPT, {**env, "MODE": "vectors"})
        texts = ["hello world", "ünïcödé ✓", "third one"]
        h.check(out["object"] == "list" and
                out["model"] == "text-embedding-3-small", "OpenAI's shape",
                out)
        h.check(out["usage"] == {"prompt_tokens": 6, "total_tokens": 6},
                "usage passed through", out["usage"])
        h.check([d["index"] for d in out["base64"]] == [0, 1, 2],
                "data in input order", out["base64"])
        for d, t in zip(out["base64"], texts):
            h.check(f32(d["embedding"]) == f32(fake_api.embedding_for(t, 8)),
                    f"base64 vector of {t!r} identical", d)
        d = out["float"][0]
        h.check(len(d["embedding"]) == 5, "dimensions honoured", d)
        h.check(f32(d["embedding"]) ==
                f32(fake_api.embedding_for("with dims", 5)),
                "float vector identical as float32", d)
        h.check(api.stats()["requests"] == 2, "one upstream call per SDK "
                "call, however many inputs", api.stats())

        # "user" reached the API (the first call sent it).
        api.reset()
        st, _, _ = srv.embed({"input": "u", "user": "user-77"})
        h.check(st == 200 and api.stats()["last_body"].get("user") == "user-77",
                "user passed upstream", st, api.stats())

        api.reset()
        out = hh.node(SCRIPT, {**env, "MODE": "error",
                               "TEXT": "bad one @fault:400"})
        e = out["error"]
        h.check(e is not None and e["bad"] and e["status"] == 400,
                "an upstream 400 is a BadRequestError", out)
        h.check(api.stats()["requests"] == 1, "a 400 is not retried by "
                "anyone", api.stats())

        api.reset()
        before = hh.sample(srv.metrics(), "embedwatch_attempts_total")
        out = hh.node(SCRIPT, {**env, "MODE": "error",
                               "TEXT": "hangs @fault:hang"})
        e = out["error"]
        h.log(f"hung call: {out['ms']} ms, {e}")
        h.check(e is not None and e["api"] and e["status"] == 504,
                "a hung API is an APIError with status 504", out)
        h.check(out["ms"] < (4 + 2 * h.SLACK) * 1000, "within the deadline "
                "plus a margin", out["ms"])
        attempts = hh.sample(srv.metrics(), "embedwatch_attempts_total") - \
            before
        h.check(attempts == 2, "two attempts (--retries 1)", attempts)
        h.wait_until(lambda: api.stats()["requests"] == attempts,
                     5 * h.SLACK, "the fake to see the attempts")
        time.sleep(0.5)
        h.check(api.stats()["requests"] == attempts, "the fake saw exactly "
                "embedwatch's attempts: the SDK did not retry", api.stats())

        api.reset()
        n = 200
        out = hh.node(SCRIPT, {**env, "MODE": "concurrent", "N": str(n)})
        res = out["results"]
        h.check(len(res) == n, "200 answers", len(res))
        for i, vecs in enumerate(res):
            h.check(f32(vecs[0]) == f32(fake_api.embedding_for(f"text {i}", 8))
                    and f32(vecs[1]) ==
                    f32(fake_api.embedding_for(f"other {i}", 8)),
                    f"call {i} correct", vecs)
        h.check(api.stats()["requests"] == n, "one upstream call each",
                api.stats())
        h.wait_until(lambda: h.working(srv.pid) == [], 10 * h.SLACK,
                     "no workers left")
        sh_stop(srv)


def sh_stop(srv):
    import signal
    srv.signal(signal.SIGTERM)
    rc = srv.wait(30 * h.SLACK)
    h.check(rc == 0, f"serve exited {rc} after SIGTERM", srv.stderr())


h.main(scenario)
