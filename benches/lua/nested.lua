-- benches/kernels/nested.fasm: s = s * 31 + (i ~ j) over an n x n grid
-- (wrapping 64-bit integers; LuaJIT's doubles and 32-bit bit operations
-- give another answer).
dofile((arg[0]:match("(.*/)") or "./") .. "harness.lua")([[
local function kernel(n)
  local s, i = 0, 0
  while i < n do
    local j = 0
    while j < n do
      s = s * 31 + bxor(i, j)
      j = j + 1
    end
    i = i + 1
  end
  return s
end
return kernel
]])
