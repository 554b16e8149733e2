## codon: auto_python=1
import socket

print(socket.gethostname())
