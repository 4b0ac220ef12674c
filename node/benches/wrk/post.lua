-- POST /new_transaction with a unique post per request, as the tutorial's web app sends.
local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

-- The first script argument tags the contents, so that two runs against one node post
-- different posts.
function init(args)
  tag = args[1] or "load"
  counter = 0
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  counter = counter + 1
  local body = string.format('{"author":"load-%d","content":"%s post %d from thread %d"}', id, tag, counter, id)
  return wrk.format(nil, nil, nil, body)
end

-- Next to this script, whatever directory wrk runs in.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
done = dofile(here .. "report.lua")
