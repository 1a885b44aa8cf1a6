-- wrk: POST /screenings (an M-CHAT-R of a seeded child, each request a different child in
-- turn, each with its own Idempotency-Key).
local ids = {}
local token = os.getenv("RAVIS_LOAD_TOKEN")
local today = os.getenv("RAVIS_LOAD_DATE")
for line in io.lines(os.getenv("RAVIS_LOAD_IDS")) do ids[#ids + 1] = line end
local answers = '{"1":0,"2":0,"3":0,"4":0,"5":0,"6":0,"7":0,"8":0,"9":0,"10":0,' ..
  '"11":0,"12":0,"13":0,"14":0,"15":0,"16":0,"17":0,"18":0,"19":0,"20":0}'
local n = 0
function setup(thread) thread:set("offset", math.random(1000000)) end
request = function()
  n = n + 1
  local id = ids[((n + offset) % #ids) + 1]
  local body = '{"child_id":"' .. id .. '","instrument":"mchat-r","administered_on":"' ..
    today .. '","answers":' .. answers .. '}'
  return wrk.format("POST", "/screenings", {
    ["Authorization"] = "Bearer " .. token,
    ["Content-Type"] = "application/json",
    ["Idempotency-Key"] = "load-" .. offset .. "-" .. n,
  }, body)
end
