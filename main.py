from source_kubecost.run import run

if __name__ == "__main__":
    run()
