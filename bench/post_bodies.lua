-- wrk script: POST each line of the file named by the first script argument, once, in order.
-- Every body is distinct, so every request is a new log entry; running out wraps around and the
-- repeats come back 409 (counted by wrk as non-2xx).
local bodies = {}
local next_body = 0

function init(args)
  for line in io.lines(args[1]) do
    bodies[#bodies + 1] = line
  end
end

function request()
  next_body = next_body % #bodies + 1
  return wrk.format("POST", nil, { ["Content-Type"] = "application/json" }, bodies[next_body])
end
