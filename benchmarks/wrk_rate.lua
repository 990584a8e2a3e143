-- wrk at a fixed offered rate with random arrivals: every connection waits an exponentially distributed delay
-- (mean WRK_MEAN_DELAY_MS) before each request, so the connections never fire in step (hey's per-worker tickers
-- do, and then measure their own bursts). Prints the latency percentiles wrk's own report leaves out.
local mean = tonumber(os.getenv("WRK_MEAN_DELAY_MS") or "100")
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("seed", threads)
end

function init(args)
  math.randomseed(seed * 7919 + os.time())
end

function delay()
  return -mean * math.log(1 - math.random())
end

function done(summary, latency, requests)
  io.write(string.format("GRADEFLOW requests=%d seconds=%.3f errors=%d p50_us=%d p95_us=%d p99_us=%d\n",
    summary.requests, summary.duration / 1e6,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.status + summary.errors.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99)))
end
