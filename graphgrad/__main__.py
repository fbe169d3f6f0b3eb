from graphgrad.cli import main

main()
