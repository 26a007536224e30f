from openai_api_simulator.cli import main

main()
