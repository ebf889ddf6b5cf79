-- benches/kernels/heapsort.fasm: heap sort of n Ints (x = x * 16807 %
-- 2147483647) with one sift-down loop for both phases, then the sum of
-- a[i] * (i % 13 + 1) (0-based i).
dofile((arg[0]:match("(.*/)") or "./") .. "harness.lua")([[
local function kernel(n)
  local a = {}
  local x = 1
  for i = 1, n do
    x = x * 16807 % 2147483647
    a[i] = x
  end
  local k, e = n, n
  while true do
    local root
    if k > 0 then
      k = k - 1
      root = k
    else
      e = e - 1
      if e <= 0 then break end
      a[1], a[e + 1] = a[e + 1], a[1]
      root = 0
    end
    while true do
      local child = 2 * root + 1
      if child >= e then break end
      if child + 1 < e and a[child + 1] < a[child + 2] then child = child + 1 end
      if not (a[root + 1] < a[child + 1]) then break end
      a[root + 1], a[child + 1] = a[child + 1], a[root + 1]
      root = child
    end
  end
  local total = 0
  for i = 0, n - 1 do total = total + a[i + 1] * (i % 13 + 1) end
  return total
end
return kernel
]])
