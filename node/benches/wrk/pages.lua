-- GET /chain pages spread over the whole chain; `from` walks heights 0..HEIGHT.
function init(args)
  height = tonumber(args[1]) or 0
  limit = tonumber(args[2]) or 100
  counter = 0
end

-- A steady reader, not a flood: each connection asks for a page every 20 ms.
function delay()
  return 20
end

function request()
  counter = counter + 1
  local from = 0
  if height > 0 then from = (counter * 7919) % (height + 1) end
  return wrk.format("GET", string.format("/chain?from=%d&limit=%d", from, limit))
end

-- Next to this script, whatever directory wrk runs in.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
done = dofile(here .. "report.lua")
