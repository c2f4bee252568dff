"""The project's entry point: `ophis project run start`."""


def main() -> None:
    print("Hello from an Ophis project.")


if __name__ == "__main__":
    main()
