-- wrk script: POST each line of the file named by the first script argument, once, in order.
-- Every body is distinct, so every request is a new log entry; running out wraps around and the
-- repeats come back 409 (counted by wrk as non-2xx). Answers other than 201 are counted by
-- status and printed at the end as "status <code> <count>" lines (bench/wrk.py reads them).
local bodies = {}
local next_body = 0
local threads = {}
other = {}

function setup(thread)
  threads[#threads + 1] = thread
end

function init(args)
  for line in io.lines(args[1]) do
    bodies[#bodies + 1] = line
  end
end

function request()
  next_body = next_body % #bodies + 1
  return wrk.format("POST", nil, { ["Content-Type"] = "application/json" }, bodies[next_body])
end

function response(status, headers, body)
  if status ~= 201 then
    other[status] = (other[status] or 0) + 1
  end
end

function done(summary, latency, requests)
  local total = {}
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("other")) do
      total[status] = (total[status] or 0) + count
    end
  end
  for status, count in pairs(total) do
    io.write(string.format("status %d %d\n", status, count))
  end
end
