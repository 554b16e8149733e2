class Point:
    def __init__(self, x: int):
        self.x = x


points = [Point(2), Point(1)]
ordered = sorted(points)
print(len(ordered))
