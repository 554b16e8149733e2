import socket as net

print(net.gethostname() != "")
