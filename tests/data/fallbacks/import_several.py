import math, socket

print(math.sqrt(4.0) == 2.0, socket.gethostname() != "")
