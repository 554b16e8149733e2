# Codon reports this inside its standard library's sort; codon-lsp shows it
# on the sorted() call below, with the standard-library chain attached.
class Task:
    def __init__(self, priority: int):
        self.priority = priority


tasks = [Task(3), Task(1), Task(2)]
for task in sorted(tasks):
    print(task.priority)
