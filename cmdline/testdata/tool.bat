@echo off
python "%~dp0\tool.py" %*
