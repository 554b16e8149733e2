def mix():
    items = [1, "two"]
    return items


print(mix())
