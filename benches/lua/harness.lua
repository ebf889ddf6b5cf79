-- Times a kernel the way bench-report times ours: `lua KERNEL.lua P... RUNS`
-- runs kernel(P...) RUNS times and prints its result (an integer as one,
-- a float with 17 digits), then each run's seconds of CPU time.
--
-- A kernel is Lua source returning its function; `bxor(a, b)` in it becomes
-- Lua 5.4's inline `~`, or LuaJIT's (32-bit) `bit.bxor`.
local unpack = table.unpack or unpack

local function compile(src)
  if not bit then
    src = src:gsub("bxor%(([^,]+), ([^)]+)%)", "((%1) ~ (%2))")
  end
  local env = setmetatable({ bxor = bit and bit.bxor }, { __index = _G })
  local chunk = assert((loadstring or load)(src, "=kernel", "t", env))
  if setfenv then setfenv(chunk, env) end
  return chunk()
end

return function(src)
  local kernel = compile(src)
  local params = {}
  for k = 1, #arg - 1 do params[k] = tonumber(arg[k]) end
  local runs = tonumber(arg[#arg]) or 1
  local result
  local times = {}
  for r = 1, runs do
    local t = os.clock()
    result = kernel(unpack(params))
    times[r] = os.clock() - t
  end
  local integer
  if math.type then
    integer = math.type(result) == "integer"
  else
    integer = result == math.floor(result) and math.abs(result) < 2 ^ 53
  end
  if integer then
    print(string.format("%d", result))
  else
    print(string.format("%.17g", result))
  end
  for r = 1, runs do print(string.format("%.9f", times[r])) end
end
