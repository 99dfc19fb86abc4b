-- wrk script: GET the paths given as script arguments in turn, with the headers given there too.
-- Arguments that start with "/" are paths; "Name: value" arguments are request headers, e.g.
--   wrk ... -s bench/get_paths.lua http://127.0.0.1:4873 -- /pkg "Accept: application/json"
-- Requests are formatted once in init, so the script adds no per-request work to wrk.
local requests = {}
local next_request = 0

function init(args)
  local paths = {}
  local headers = {}
  for _, arg in ipairs(args) do
    if arg:sub(1, 1) == "/" then
      paths[#paths + 1] = arg
    else
      local name, value = arg:match("^([^:]+):%s*(.*)$")
      if not name then
        error("not a path or a header: " .. arg)
      end
      headers[name] = value
    end
  end
  if #paths == 0 then
    paths[1] = wrk.path
  end
  for i, path in ipairs(paths) do
    requests[i] = wrk.format("GET", path, headers)
  end
end

function request()
  next_request = next_request % #requests + 1
  return requests[next_request]
end
