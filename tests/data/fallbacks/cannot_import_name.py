from math import pi, isqrt

print(isqrt(10), pi > 3)
