-- wrk script for bench/webhook_bench.py: each wrk thread posts its share of the
-- pre-signed webhook deliveries in the file given as the first script argument
-- (one per line: path TAB Stripe-Signature TAB JSON body), each exactly once,
-- then stops and creates the file "<third argument>.<thread id>" so the bench
-- can end the run (wrk itself would wait out its whole -d duration).
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
  probe = wrk.format("GET", path_of_first)
  -- wrk calls request() once on the first thread before the run, to check the
  -- request (and count pipelined ones); that call must not use up a delivery.
  checked = id ~= 0
  sent = 0
  answered = 0
  not_ok = 0
  extra = 0
end

function request()
  if not checked then
    checked = true
    return requests[1]
  end
  sent = sent + 1
  if sent > #requests then
    -- Every delivery is out, but answers are still due on other connections:
    -- this connection asks with a GET, which both views answer 405 at once
    -- without touching the database. Those answers are told apart by status.
    extra = extra + 1
    return probe
  end
  return requests[sent]
end

function response(status, headers, body)
  if status == 405 then
    return
  end
  answered = answered + 1
  if status ~= 200 then
    not_ok = not_ok + 1
  end
  if answered == #requests then
    io.open(marker .. "." .. id, "w"):close()
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local answered_total, not_ok_total, extra_total = 0, 0, 0
  for _, thread in ipairs(threads) do
    answered_total = answered_total + thread:get("answered")
    not_ok_total = not_ok_total + thread:get("not_ok")
    extra_total = extra_total + thread:get("extra")
  end
  io.write(string.format(
    '{"answered":%d,"requests":%d,"duration_us":%d,"not_ok":%d,"probes_sent":%d,'
      .. '"errors":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f}\n',
    answered_total, summary.requests, summary.duration, not_ok_total, extra_total,
    summary.errors.connect + summary.errors.read + summary.errors.write
      + summary.errors.status + summary.errors.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean))
end
