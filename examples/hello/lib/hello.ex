defmodule Hello do
  @moduledoc """
  A tiny app to build and deploy with deliver: a supervised counter, and a release task for `deliver migrate`.

      iex> Hello.greeting("world")
      "Hello, world!"
  """

  @doc "The greeting the demo prints."
  def greeting(name), do: "Hello, #{name}!"

  @doc "One line about the running node, for `deliver rpc production 'IO.puts(Hello.status())'`."
  def status do
    "#{node()} runs #{Application.spec(:hello, :vsn)}, counter at #{Hello.Counter.hit()}"
  end
end
