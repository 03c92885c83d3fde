from mgqa.cli import main

main()
