-- Reads in a closed loop: each connection asks for the next of the paths given as script
-- arguments as soon as its previous answer is in, so readers take all the time they can.
function init(args)
  paths = args
  counter = 0
end

function request()
  local path = paths[counter % #paths + 1]
  counter = counter + 1
  return wrk.format("GET", path)
end

-- Next to this script, whatever directory wrk runs in.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
done = dofile(here .. "report.lua")
