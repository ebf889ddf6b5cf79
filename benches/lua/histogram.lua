-- benches/kernels/histogram.fasm: n keys x % 1000 of x = (x * 75 + 74) %
-- 65537 counted in a table; the sum of h[k] * (k + 1).
dofile((arg[0]:match("(.*/)") or "./") .. "harness.lua")([[
local function kernel(n)
  local h = {}
  for k = 0, 999 do h[k] = 0 end
  local x = 1
  for _ = 1, n do
    x = (x * 75 + 74) % 65537
    local k = x % 1000
    h[k] = h[k] + 1
  end
  local total = 0
  for k = 0, 999 do total = total + h[k] * (k + 1) end
  return total
end
return kernel
]])
