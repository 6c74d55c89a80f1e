from marlmeta.cli import console

console()
