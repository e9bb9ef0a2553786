from kpisheet.cli import main

main()
