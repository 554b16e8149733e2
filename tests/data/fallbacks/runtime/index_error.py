def get(xs, i):
    return xs[i]
print("before")
xs = [1, 2, 3]
print(get(xs, 5))
