defmodule HelloTest do
  use ExUnit.Case
  doctest Hello

  test "the counter counts from its start value" do
    n = Hello.Counter.value()
    assert Hello.Counter.hit() == n + 1
    assert Hello.Counter.value() == n + 1
  end

  test "status names the node, the version and the counter" do
    assert Hello.status() =~ ~r/runs 0\.1\.0, counter at \d+$/
  end
end
