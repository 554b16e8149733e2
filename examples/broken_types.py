# A type error Codon finds at compile time: a str added to an int.
def total(prices: list[int]) -> int:
    result = 0
    for price in prices:
        result += price
    return result


print(total([3, 4, 5]) + " items")
