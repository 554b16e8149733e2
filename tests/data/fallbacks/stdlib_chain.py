def f():
    import heapq

    h = [object()]
    heapq.heapify(h)
    return len(h)


print(f())
