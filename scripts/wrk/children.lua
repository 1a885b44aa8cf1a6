-- wrk: GET /children/{id} over the seeded children (ids one per line in $RAVIS_LOAD_IDS),
-- each request a different child in turn; every one is an audited read.
local ids = {}
local token = os.getenv("RAVIS_LOAD_TOKEN")
for line in io.lines(os.getenv("RAVIS_LOAD_IDS")) do ids[#ids + 1] = line end
local n = 0
function setup(thread) thread:set("offset", math.random(#ids)) end
request = function()
  n = n + 1
  local id = ids[((n + offset) % #ids) + 1]
  return wrk.format("GET", "/children/" .. id, {["Authorization"] = "Bearer " .. token})
end
