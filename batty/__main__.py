from batty.cli import main

main()
