"""The applications on top of the library, the highest layer: the command line (cli.py with console.py and
cli_verify.py), the reduce → export → certify pipeline (pipeline.py), proof reports (report.py), the zoo batch
runner (zoo.py, zoo_summary.py), and never destroying or half-writing a file (outputs.py, interrupt.py)."""
