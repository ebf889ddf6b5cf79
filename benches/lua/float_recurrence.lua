-- benches/kernels/float_recurrence.fasm: x = x * 0.999 + 1.5, n times.
dofile((arg[0]:match("(.*/)") or "./") .. "harness.lua")([[
local function kernel(n)
  local x, i = 0.0, 0
  while i < n do
    x = x * 0.999 + 1.5
    i = i + 1
  end
  return x
end
return kernel
]])
