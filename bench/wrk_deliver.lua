-- wrk script for bench/webhook_bench.py: each wrk thread posts its share of the
-- pre-signed webhook deliveries in the file given as the first script argument
-- (one per line: path TAB Stripe-Signature TAB JSON body), each at most once,
-- until it has answers for its quota (the fourth argument: the share of the
-- file to count), then stops and creates "<third argument>.<thread id>" so the
-- bench can end the run (wrk itself would wait out its whole -d duration).
-- done() prints one JSON line with the counts and the latency percentiles
-- (microseconds) that wrk measured.

local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  local nthreads = tonumber(args[2])
  marker = args[3]
  requests = {}
  local i = 0
  for line in io.lines(args[1]) do
    if i % nthreads == id then
      local path, signature, body = line:match("^([^\t]*)\t([^\t]*)\t(.*)$")
      path_of_first = path_of_first or path
      requests[#requests + 1] = wrk.format("POST", path, {
        ["Content-Type"] = "application/json; charset=utf-8",
        ["Stripe-Signature"] = signature,
        ["User-Agent"] = "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
      }, body)
    end
    i = i + 1
  end
  -- The file holds more deliveries than the run counts: every connection keeps
  -- posting real, distinct deliveries until the thread has its quota of
  -- answers; the few still in flight then are left unmeasured, as at the end
  -- of any wrk run.
  quota = math.floor(#requests * tonumber(args[4]))
  -- wrk calls request() once on the first thread before the run, to check the
  -- request (and count pipelined ones); that call must not use up a delivery.
  checked = id ~= 0
  sent = 0
  answered = 0
  not_ok = 0
end

function request()
  if not checked then
    checked = true
    return requests[1]
  end
  sent = sent + 1
  return requests[math.min(sent, #requests)]
end

function response(status, headers, body)
  answered = answered + 1
  if status ~= 200 then
    not_ok = not_ok + 1
  end
  if answered == quota then
    io.open(marker .. "." .. id, "w"):close()
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local answered_total, not_ok_total = 0, 0
  for _, thread in ipairs(threads) do
    answered_total = answered_total + thread:get("answered")
    not_ok_total = not_ok_total + thread:get("not_ok")
  end
  io.write(string.format(
    '{"answered":%d,"requests":%d,"duration_us":%d,"not_ok":%d,'
      .. '"errors":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f}\n',
    answered_total, summary.requests, summary.duration, not_ok_total,
    summary.errors.connect + summary.errors.read + summary.errors.write
      + summary.errors.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean))
end
