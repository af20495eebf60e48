#!/usr/bin/env python3
"""Serving benchmark for issue 7: aggregate generated tokens/s and time to first token.

Python 3 standard library only. Start a server first, e.g.

    ./arbor serve /tmp/bsmall-tok --port 0 --max-batch 16      # prints its address on stderr

then, for each concurrency C, send R streaming /v1/completions requests, C at a time:

    python3 benchmarks/serve_bench.py --url http://127.0.0.1:PORT --concurrency 1 --requests 4
    python3 benchmarks/serve_bench.py --url http://127.0.0.1:PORT --concurrency 4 --requests 8
    python3 benchmarks/serve_bench.py --url http://127.0.0.1:PORT --concurrency 16 --requests 32

Each request: greedy ("temperature": 0), "max_tokens": 128, "stream": true with
"stream_options": {"include_usage": true}, a short fixed prompt with the request number in it
(so prompts differ slightly). There is no ignore_eos: completion tokens are counted from the
usage chunk, so a request that stops early at EOS is counted with what it really generated.
tokens/s = sum of completion tokens / wall time of the whole run (first send to last byte).
TTFT = time from sending a request to its first chunk with non-empty text.
--warmup N sends N requests (not measured) before the run. --json prints one JSON line.
"""
import argparse
import http.client
import json
import statistics
import sys
import threading
import time
import urllib.parse


def pct(xs, p):
    """Nearest-rank percentile."""
    s = sorted(xs)
    if not s:
        return float("nan")
    k = max(0, min(len(s) - 1, int(-(-p * len(s) // 100)) - 1))
    return s[k]


def one(host, port, model, prompt, max_tokens, timeout):
    body = json.dumps({"model": model, "prompt": prompt, "max_tokens": max_tokens, "temperature": 0,
                       "stream": True, "stream_options": {"include_usage": True}})
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    t0 = time.perf_counter()
    conn.request("POST", "/v1/completions", body=body, headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    if resp.status != 200:
        raise RuntimeError(f"HTTP {resp.status}: {resp.read()[:300]!r}")
    ttft = None
    usage = None
    chunks = 0
    finish = None
    while True:
        line = resp.readline()
        if not line:
            break
        line = line.strip()
        if not line.startswith(b"data:"):
            continue
        data = line[5:].strip()
        if data == b"[DONE]":
            break
        ev = json.loads(data)
        for c in ev.get("choices") or []:
            if c.get("text"):
                chunks += 1
                if ttft is None:
                    ttft = time.perf_counter() - t0
            if c.get("finish_reason"):
                finish = c["finish_reason"]
        if ev.get("usage"):
            usage = ev["usage"]
    t1 = time.perf_counter()
    conn.close()
    toks = usage["completion_tokens"] if usage else chunks
    return {"ttft": ttft, "latency": t1 - t0, "tokens": toks, "finish": finish, "usage": usage is not None}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--model", help="model id (default: the first of /v1/models)")
    ap.add_argument("--concurrency", type=int, default=1)
    ap.add_argument("--requests", type=int, default=4)
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--warmup", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    u = urllib.parse.urlparse(a.url)
    host, port = u.hostname, u.port or 80
    model = a.model
    if model is None:
        c = http.client.HTTPConnection(host, port, timeout=30)
        c.request("GET", "/v1/models")
        model = json.loads(c.getresponse().read())["data"][0]["id"]
        c.close()

    def prompt(i):
        return f"Request {i}: once upon a time, in a small village by the sea, there lived"

    for i in range(a.warmup):
        one(host, port, model, prompt(10_000 + i), a.max_tokens, a.timeout)

    results = [None] * a.requests
    errors = []
    nxt = [0]
    lock = threading.Lock()

    def worker():
        while True:
            with lock:
                i = nxt[0]
                if i >= a.requests:
                    return
                nxt[0] += 1
            try:
                results[i] = one(host, port, model, prompt(i), a.max_tokens, a.timeout)
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(f"request {i}: {e}")

    threads = [threading.Thread(target=worker) for _ in range(a.concurrency)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    ok = [r for r in results if r is not None]
    toks = sum(r["tokens"] for r in ok)
    ttfts = [r["ttft"] for r in ok if r["ttft"] is not None]
    out = {
        "model": model, "concurrency": a.concurrency, "requests": a.requests, "ok": len(ok), "errors": len(errors),
        "completion_tokens": toks, "wall_s": round(wall, 3), "tokens_per_s": round(toks / wall, 2),
        "ttft_p50_ms": round(statistics.median(ttfts) * 1000, 1) if ttfts else None,
        "ttft_p99_ms": round(pct(ttfts, 99) * 1000, 1) if ttfts else None,
        "early_stops": sum(1 for r in ok if r["tokens"] < a.max_tokens),
        "usage_reported": all(r["usage"] for r in ok),
    }
    for e in errors[:5]:
        print(e, file=sys.stderr)
    if a.json:
        print(json.dumps(out))
    else:
        print(f"c={a.concurrency} n={a.requests} ok={len(ok)} err={len(errors)} tokens={toks} wall={wall:.2f}s "
              f"-> {toks / wall:.1f} tok/s; TTFT p50 {out['ttft_p50_ms']} ms p99 {out['ttft_p99_ms']} ms; "
              f"early stops {out['early_stops']}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
