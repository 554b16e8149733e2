# A clean program: counts primes below a limit with a sieve.
def count_primes(limit: int) -> int:
    sieve = [True] * limit
    sieve[0] = sieve[1] = False
    for n in range(2, int(limit**0.5) + 1):
        if sieve[n]:
            for multiple in range(n * n, limit, n):
                sieve[multiple] = False
    return sum(1 for flag in sieve if flag)


print(count_primes(100000))
