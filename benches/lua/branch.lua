-- benches/kernels/branch.fasm: acc += i when i % 3 == 0, else acc -= 1.
dofile((arg[0]:match("(.*/)") or "./") .. "harness.lua")([[
local function kernel(n)
  local acc, i = 0, 0
  while i < n do
    if i % 3 == 0 then acc = acc + i else acc = acc - 1 end
    i = i + 1
  end
  return acc
end
return kernel
]])
