-- benches/kernels/sieve.fasm: primes below n, Sieve of Eratosthenes over an
-- array of booleans filled first.
dofile((arg[0]:match("(.*/)") or "./") .. "harness.lua")([[
local function kernel(n)
  local composite = {}
  for k = 1, n do composite[k] = false end
  local count, i = 0, 2
  while i < n do
    if not composite[i + 1] then
      count = count + 1
      local j = i * i
      while j < n do
        composite[j + 1] = true
        j = j + i
      end
    end
    i = i + 1
  end
  return count
end
return kernel
]])
